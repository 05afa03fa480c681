-- VSO per month and empreendimento, plus one all-empreendimentos row per month (total = true).
--   vso = (vendidas - distratos) / (estoque_inicial + lancadas)
--   vendidas        sales (kpi.vendas, counted in kpi.vendas_mensal) with data_venda in the month
--   distratos       core.distratos rows with ativo = 'S' and situacao_data in the month
--   estoque_inicial units with situacao_mapa_disponibilidade = 1 in the month's FIRST daily snapshot
--                   (core.unidades_situacao_diaria; CVDW keeps no history, so snapshots are the only source)
--   lancadas        units in the month's LAST snapshot that were absent from its first one
-- Months without any snapshot have unknown offer: estoque_inicial, lancadas and vso are NULL there.
WITH snapshot_days AS (
    -- one index probe per calendar day instead of a scan of every snapshot row
    SELECT d::date AS dia
    FROM generate_series(
        (SELECT min(dia) FROM core.unidades_situacao_diaria),
        (SELECT max(dia) FROM core.unidades_situacao_diaria),
        interval '1 day'
    ) AS d
    WHERE EXISTS (SELECT 1 FROM core.unidades_situacao_diaria AS s WHERE s.dia = d::date)
),
months AS (
    SELECT date_trunc('month', dia)::date AS mes, min(dia) AS first_day, max(dia) AS last_day
    FROM snapshot_days
    GROUP BY 1
),
stock AS (
    SELECT m.mes, s.idempreendimento,
           count(*) FILTER (WHERE s.situacao_mapa_disponibilidade = 1) AS estoque_inicial
    FROM months AS m
    JOIN core.unidades_situacao_diaria AS s ON s.dia = m.first_day
    GROUP BY m.mes, s.idempreendimento
),
launched AS (
    SELECT m.mes, s.idempreendimento, count(*) AS lancadas
    FROM months AS m
    JOIN core.unidades_situacao_diaria AS s ON s.dia = m.last_day
    WHERE m.last_day > m.first_day
      AND NOT EXISTS (
          SELECT 1 FROM core.unidades_situacao_diaria AS f
          WHERE f.dia = m.first_day AND f.idunidade = s.idunidade
      )
    GROUP BY m.mes, s.idempreendimento
),
sold AS (  -- the monthly sales aggregate is already materialized: no second scan of every reserva
    SELECT mes, idempreendimento, vendas AS vendidas, empreendimento AS nome
    FROM kpi.vendas_mensal
    WHERE NOT total
),
cancelled AS (
    SELECT date_trunc('month', situacao_data)::date AS mes, idempreendimento,
           count(*) AS distratos, max(empreendimento) AS nome
    FROM core.distratos
    WHERE ativo = 'S' AND situacao_data IS NOT NULL
    GROUP BY 1, 2
),
keys AS (
    SELECT mes, idempreendimento FROM sold
    UNION SELECT mes, idempreendimento FROM cancelled
    UNION SELECT mes, idempreendimento FROM stock
    UNION SELECT mes, idempreendimento FROM launched
),
per_project AS (
    SELECT
        k.mes,
        k.idempreendimento,
        coalesce(e.nome, so.nome, c.nome) AS empreendimento,
        coalesce(so.vendidas, 0) AS vendidas,
        coalesce(c.distratos, 0) AS distratos,
        CASE WHEN m.mes IS NULL THEN NULL ELSE coalesce(st.estoque_inicial, 0) END AS estoque_inicial,
        CASE WHEN m.mes IS NULL THEN NULL ELSE coalesce(l.lancadas, 0) END AS lancadas
    FROM keys AS k
    LEFT JOIN months AS m ON m.mes = k.mes
    LEFT JOIN sold AS so ON so.mes = k.mes AND so.idempreendimento IS NOT DISTINCT FROM k.idempreendimento
    LEFT JOIN cancelled AS c ON c.mes = k.mes AND c.idempreendimento IS NOT DISTINCT FROM k.idempreendimento
    LEFT JOIN stock AS st ON st.mes = k.mes AND st.idempreendimento IS NOT DISTINCT FROM k.idempreendimento
    LEFT JOIN launched AS l ON l.mes = k.mes AND l.idempreendimento IS NOT DISTINCT FROM k.idempreendimento
    LEFT JOIN core.empreendimentos AS e ON e.idempreendimento = k.idempreendimento
)
SELECT
    p.mes,
    p.idempreendimento,
    CASE WHEN grouping(p.idempreendimento) = 1 THEN 'Todos os empreendimentos'
         ELSE max(p.empreendimento) END AS empreendimento,
    grouping(p.idempreendimento) = 1 AS total,
    sum(p.vendidas)::bigint AS vendidas,
    sum(p.estoque_inicial)::bigint AS estoque_inicial,
    sum(p.lancadas)::bigint AS lancadas,
    sum(p.distratos)::bigint AS distratos,
    round((sum(p.vendidas) - sum(p.distratos))::numeric
          / nullif(sum(p.estoque_inicial) + sum(p.lancadas), 0), 4) AS vso
FROM per_project AS p
GROUP BY GROUPING SETS ((p.mes, p.idempreendimento), (p.mes))
