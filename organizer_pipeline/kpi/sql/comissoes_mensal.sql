-- Commission grain for filtering: active commission rows (ativo = 'S') of sales in kpi.vendas,
-- per sale month, empreendimento and broker. `vendas` = distinct sales that earned the broker a commission.
SELECT
    v.mes,
    v.idempreendimento,
    max(v.empreendimento) AS empreendimento,
    coalesce(c.corretor, '(sem corretor)') AS corretor,
    sum(coalesce(c.valor_comissao, 0))::numeric(18, 2) AS comissao_total,
    count(DISTINCT c.idreserva) AS vendas,
    sum(coalesce(c.valor_contrato, v.valor_contrato))::numeric(18, 2) AS valor_contratos
FROM core.comissoes AS c
JOIN kpi.vendas AS v ON v.idreserva = c.idreserva
WHERE c.ativo = 'S'
GROUP BY v.mes, v.idempreendimento, coalesce(c.corretor, '(sem corretor)')
