"""WooCommerce shops: webhook deliveries (orders, customers) normalized into the store."""
