-- Hotmart sales per approval day (America/Sao_Paulo), product and currency. A sale is a transaction that
-- was approved (approved_at set, whatever its status now); refunds are those now REFUNDED or CHARGEBACK,
-- counted on the day of the original approval (refund rate of that day's cohort).
SELECT
    (s.approved_at AT TIME ZONE 'America/Sao_Paulo')::date AS dia,
    s.product_id,
    coalesce(max(s.product_name), s.product_id::text, '(sem produto)') AS produto,
    coalesce(s.currency, 'BRL') AS moeda,
    count(*) AS vendas,
    coalesce(sum(s.price), 0)::numeric(18, 2) AS receita_bruta,
    coalesce(sum(s.producer_commission)
             FILTER (WHERE upper(s.status) NOT IN ('REFUNDED', 'CHARGEBACK')), 0)::numeric(18, 2)
        AS receita_liquida_produtor,
    count(*) FILTER (WHERE upper(s.status) IN ('REFUNDED', 'CHARGEBACK')) AS reembolsos,
    coalesce(sum(s.price) FILTER (WHERE upper(s.status) IN ('REFUNDED', 'CHARGEBACK')), 0)::numeric(18, 2)
        AS valor_reembolsado,
    round((count(*) FILTER (WHERE upper(s.status) IN ('REFUNDED', 'CHARGEBACK')))::numeric / count(*), 4)
        AS taxa_reembolso
FROM hotmart.sales AS s
WHERE s.approved_at IS NOT NULL
GROUP BY 1, s.product_id, coalesce(s.currency, 'BRL')
