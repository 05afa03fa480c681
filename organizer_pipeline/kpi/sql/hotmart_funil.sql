-- Cart abandonment -> purchase per product, counted in distinct buyers (lower-cased e-mail):
--   abandonos    e-mails with a PURCHASE_OUT_OF_SHOPPING_CART event for the product
--   compradores  e-mails with an approved sale of the product (hotmart.sales.approved_at set)
--   recuperados  abandoners whose latest approved purchase of the product came after their first abandonment
--   taxa_conversao = recuperados / abandonos
WITH abandoned AS (
    SELECT product_id, lower(email) AS email, min(occurred_at) AS first_abandoned_at,
           max(product_name) AS product_name
    FROM hotmart.events
    WHERE event = 'PURCHASE_OUT_OF_SHOPPING_CART' AND email IS NOT NULL
    GROUP BY 1, 2
),
bought AS (
    SELECT product_id, lower(buyer_email) AS email, max(approved_at) AS last_approved_at,
           max(product_name) AS product_name
    FROM hotmart.sales
    WHERE approved_at IS NOT NULL AND buyer_email IS NOT NULL
    GROUP BY 1, 2
)
SELECT
    coalesce(a.product_id, b.product_id) AS product_id,
    coalesce(max(b.product_name), max(a.product_name), '(sem produto)') AS produto,
    count(a.email) AS abandonos,
    count(b.email) AS compradores,
    count(*) FILTER (WHERE b.last_approved_at >= a.first_abandoned_at) AS recuperados,
    round((count(*) FILTER (WHERE b.last_approved_at >= a.first_abandoned_at))::numeric
          / nullif(count(a.email), 0), 4) AS taxa_conversao
FROM abandoned AS a
FULL JOIN bought AS b ON b.product_id = a.product_id AND b.email = a.email
GROUP BY coalesce(a.product_id, b.product_id)
