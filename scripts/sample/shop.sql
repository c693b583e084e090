-- A small sample database for the demo and docker-compose.yml.
CREATE DATABASE IF NOT EXISTS shop;
USE shop;

CREATE TABLE IF NOT EXISTS customers (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email       VARCHAR(255) NOT NULL UNIQUE,
    name        VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL,
    country     CHAR(2) NULL,
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at  TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS products (
    sku         VARCHAR(32) NOT NULL PRIMARY KEY,
    title       VARCHAR(255) NOT NULL,
    price       DECIMAL(12,2) NOT NULL,
    weight_kg   DOUBLE NULL,
    status      ENUM('active','retired') NOT NULL DEFAULT 'active',
    attributes  JSON NULL
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS orders (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id BIGINT UNSIGNED NOT NULL,
    sku         VARCHAR(32) NOT NULL,
    quantity    INT UNSIGNED NOT NULL,
    total       DECIMAL(14,2) NOT NULL,
    placed_on   DATE NOT NULL,
    KEY (customer_id)
) ENGINE=InnoDB;

INSERT IGNORE INTO customers (id, email, name, country) VALUES
    (1, 'ada@example.com', 'Ada Lovelace', 'GB'),
    (2, 'jose@example.com', 'José Müller', 'DE'),
    (3, 'mei@example.com', '美玲 🌸', NULL);

INSERT IGNORE INTO products (sku, title, price, weight_kg, status, attributes) VALUES
    ('TEA-1', 'Green tea', 4.50, 0.1, 'active', '{"organic": true}'),
    ('MUG-2', 'Mug', 9.99, 0.35, 'active', NULL),
    ('OLD-3', 'Typewriter', 120.00, 7.5, 'retired', '{"colour": "black"}');

INSERT IGNORE INTO orders (id, customer_id, sku, quantity, total, placed_on) VALUES
    (1, 1, 'TEA-1', 2, 9.00, '2026-11-01'),
    (2, 2, 'MUG-2', 1, 9.99, '2026-11-02'),
    (3, 3, 'TEA-1', 4, 18.00, '2026-11-03');
