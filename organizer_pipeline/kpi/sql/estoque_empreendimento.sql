-- Current stock per empreendimento and how many months it lasts at the recent pace of sales.
--   estoque              units now neither sold nor blocked (situações 1, 2, 5: the offer VSO counts)
--   vendas_liquidas_3m   sales (kpi.vendas) minus active distratos (core.distratos) in the last 3 whole months
--                        before the current one (America/Sao_Paulo), janela_inicio .. janela_fim
--   media_mensal_3m      vendas_liquidas_3m / 3
--   meses_para_vender    estoque / media_mensal_3m, 1 decimal; 0 when nothing is left to sell; NULL when the
--                        empreendimento sold nothing net in the window (the stock would never run out)
WITH janela AS (
    SELECT (date_trunc('month', now() AT TIME ZONE 'America/Sao_Paulo') - interval '3 months')::date AS inicio,
           date_trunc('month', now() AT TIME ZONE 'America/Sao_Paulo')::date AS fim  -- exclusive
),
stock AS (
    SELECT idempreendimento, max(empreendimento) AS nome, count(*) AS unidades,
           count(*) FILTER (WHERE situacao_mapa_disponibilidade IN (1, 2, 5)) AS estoque
    FROM core.unidades
    WHERE ativo IS DISTINCT FROM 'N' AND idempreendimento IS NOT NULL
    GROUP BY idempreendimento
),
sold AS (
    SELECT v.idempreendimento, max(v.empreendimento) AS nome, count(*) AS vendas
    FROM kpi.vendas AS v, janela AS j
    WHERE v.data_venda >= j.inicio AND v.data_venda < j.fim AND v.idempreendimento IS NOT NULL
    GROUP BY v.idempreendimento
),
cancelled AS (
    SELECT d.idempreendimento, count(*) AS distratos
    FROM core.distratos AS d, janela AS j
    WHERE d.ativo = 'S' AND d.situacao_data >= j.inicio AND d.situacao_data < j.fim
      AND d.idempreendimento IS NOT NULL
    GROUP BY d.idempreendimento
),
per_project AS (
    SELECT k.idempreendimento,
           coalesce(e.nome, st.nome, so.nome) AS empreendimento,
           coalesce(st.unidades, 0) AS unidades,
           coalesce(st.estoque, 0) AS estoque,
           coalesce(so.vendas, 0) - coalesce(c.distratos, 0) AS vendas_liquidas_3m
    FROM (SELECT idempreendimento FROM stock UNION SELECT idempreendimento FROM sold) AS k
    LEFT JOIN stock AS st ON st.idempreendimento = k.idempreendimento
    LEFT JOIN sold AS so ON so.idempreendimento = k.idempreendimento
    LEFT JOIN cancelled AS c ON c.idempreendimento = k.idempreendimento
    LEFT JOIN core.empreendimentos AS e ON e.idempreendimento = k.idempreendimento
)
SELECT
    p.idempreendimento,
    p.empreendimento,
    p.unidades,
    p.estoque,
    p.vendas_liquidas_3m,
    round(p.vendas_liquidas_3m / 3.0, 2) AS media_mensal_3m,
    CASE WHEN p.estoque = 0 THEN 0.0
         WHEN p.vendas_liquidas_3m > 0 THEN round(p.estoque * 3.0 / p.vendas_liquidas_3m, 1) END
        AS meses_para_vender,
    j.inicio AS janela_inicio,
    (j.fim - 1) AS janela_fim
FROM per_project AS p CROSS JOIN janela AS j
