/* Stands in for Shopify's Polaris script, which cannot load without the internet: the s-* elements
 * stay undefined custom elements, so embedded pages are checked for their markup and behaviour, not
 * for Polaris's look. */
