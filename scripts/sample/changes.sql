-- A few changes to the sample database, so the demo shows events flowing.
USE shop;
-- On a later run of the demo the customer exists: her country flips
-- instead (an update), so no statement fails.
INSERT INTO customers (email, name, country) VALUES ('grace@example.com', 'Grace Hopper', 'US')
    ON DUPLICATE KEY UPDATE country = IF(country = 'US', 'GB', 'US');
UPDATE products SET price = price + 0.50 WHERE sku = 'TEA-1';
START TRANSACTION;
INSERT INTO orders (customer_id, sku, quantity, total, placed_on)
    SELECT id, 'MUG-2', 2, 19.98, CURRENT_DATE FROM customers WHERE email = 'grace@example.com';
UPDATE products SET status = 'retired' WHERE sku = 'MUG-2';
COMMIT;
DELETE FROM orders WHERE quantity > 3;
