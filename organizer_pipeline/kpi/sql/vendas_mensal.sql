-- Sales per month and empreendimento, plus one all-empreendimentos row per month (total = true).
SELECT
    v.mes,
    v.idempreendimento,
    CASE WHEN grouping(v.idempreendimento) = 1 THEN 'Todos os empreendimentos'
         ELSE max(v.empreendimento) END AS empreendimento,
    grouping(v.idempreendimento) = 1 AS total,
    count(*) AS vendas,
    coalesce(sum(v.valor_contrato), 0)::numeric(18, 2) AS vgv,
    round(coalesce(sum(v.valor_contrato), 0) / count(*), 2) AS ticket_medio
FROM kpi.vendas AS v
GROUP BY GROUPING SETS ((v.mes, v.idempreendimento), (v.mes))
