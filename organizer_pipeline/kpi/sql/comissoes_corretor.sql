-- Top performers by commission over all time (filter kpi.comissoes_mensal for a period).
SELECT
    m.corretor,
    sum(m.comissao_total)::numeric(18, 2) AS comissao_total,
    sum(m.vendas)::bigint AS vendas,
    rank() OVER (ORDER BY sum(m.comissao_total) DESC) AS ranking
FROM kpi.comissoes_mensal AS m
GROUP BY m.corretor
