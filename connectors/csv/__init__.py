"""CSV files as a source: our documented columns and Shopify's own customer and order exports."""
