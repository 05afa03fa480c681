-- Pró-soluto per sale month and empreendimento, plus one all-empreendimentos row per month (total = true).
--   vgv                   sum of valor_contrato of the month's sales (= kpi.vendas_mensal.vgv)
--   vgv_com_condicoes     the same, over the sales whose payment conditions are known (rows of core.prosoluto)
--   valor_prosoluto       sum of core.prosoluto.valor_prosoluto: the part paid to the incorporadora directly
--   valor_financiado      sum of core.prosoluto.valor_financiado: bank financing, FGTS, subsídio
--   percentual_prosoluto  valor_prosoluto / vgv_com_condicoes (a fraction; a sale without condições is left out
--                         of both sides rather than counted as zero pró-soluto)
SELECT
    v.mes,
    v.idempreendimento,
    CASE WHEN grouping(v.idempreendimento) = 1 THEN 'Todos os empreendimentos'
         ELSE max(v.empreendimento) END AS empreendimento,
    grouping(v.idempreendimento) = 1 AS total,
    count(*) AS vendas,
    count(p.idreserva) AS vendas_com_condicoes,
    coalesce(sum(v.valor_contrato), 0)::numeric(18, 2) AS vgv,
    coalesce(sum(v.valor_contrato) FILTER (WHERE p.idreserva IS NOT NULL), 0)::numeric(18, 2) AS vgv_com_condicoes,
    coalesce(sum(p.valor_prosoluto), 0)::numeric(18, 2) AS valor_prosoluto,
    coalesce(sum(p.valor_financiado), 0)::numeric(18, 2) AS valor_financiado,
    round(sum(p.valor_prosoluto)
          / nullif(sum(v.valor_contrato) FILTER (WHERE p.idreserva IS NOT NULL), 0), 4) AS percentual_prosoluto
FROM kpi.vendas AS v
LEFT JOIN core.prosoluto AS p ON p.idreserva = v.idreserva
GROUP BY GROUPING SETS ((v.mes, v.idempreendimento), (v.mes))
