-- VSO per month and empreendimento, plus one all-empreendimentos row per month (total = true).
--   vso = (vendidas - distratos) / (estoque_inicial + lancadas)
--   vendidas        sales (kpi.vendas, counted in kpi.vendas_mensal) with data_venda in the month
--   distratos       core.distratos rows with ativo = 'S' and situacao_data in the month
--   estoque_inicial the offer when the month began: units neither sold nor blocked (situações 1 Disponível,
--                   2 Reservada, 5 Em processo de reserva), so a reserva that closes in the month is in both the
--                   numerator and the denominator
--   lancadas        units launched during the month, unless blocked
-- Where the stock comes from (estoque_fonte):
--   'snapshot'      the month has a daily snapshot (core.unidades_situacao_diaria) on its first day: stock =
--                   that snapshot; launches = units in the month's last snapshot absent from its first one
--   'reconstruido'  any other month (before the first snapshot, a gap, or snapshots starting mid-month): stock =
--                   units that had appeared before the month began, minus those with an active sale (net of
--                   distratos) then; launches = units that appeared during the month. A unit appears on the day
--                   of the first snapshot that shows it when that is later than the very first snapshot day
--                   (launched while we were watching); otherwise on its empreendimento's first appearance: the
--                   earliest data_cad/data_venda of its active reservas, or the first snapshot day if earlier
--                   (CVDW gives no launch date). A unit blocked (4) the first time we saw it is taken as blocked
--                   all along (CVDW keeps no history of blocks).
-- estoque_inicial_reconstruido and lancadas_reconstruidas are the reconstruction for every month, snapshot months
-- included, so the two methods can be compared where both exist.
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
snapshot_months AS (
    SELECT date_trunc('month', dia)::date AS mes, min(dia) AS first_day, max(dia) AS last_day
    FROM snapshot_days
    GROUP BY 1
    HAVING min(dia) = date_trunc('month', min(dia))::date
),
snap_stock AS (
    SELECT m.mes, s.idempreendimento,
           count(*) FILTER (WHERE s.situacao_mapa_disponibilidade IN (1, 2, 5)) AS estoque_inicial
    FROM snapshot_months AS m
    JOIN core.unidades_situacao_diaria AS s ON s.dia = m.first_day
    GROUP BY m.mes, s.idempreendimento
),
snap_launched AS (
    SELECT m.mes, s.idempreendimento, count(*) AS lancadas
    FROM snapshot_months AS m
    JOIN core.unidades_situacao_diaria AS s ON s.dia = m.last_day
    WHERE m.last_day > m.first_day
      AND s.situacao_mapa_disponibilidade IS DISTINCT FROM 4
      AND NOT EXISTS (
          SELECT 1 FROM core.unidades_situacao_diaria AS f
          WHERE f.dia = m.first_day AND f.idunidade = s.idunidade
      )
    GROUP BY m.mes, s.idempreendimento
),
first_seen AS (  -- each unit's first snapshot and its situation then
    SELECT f.idunidade, f.dia, s.situacao_mapa_disponibilidade AS situacao
    FROM (SELECT idunidade, min(dia) AS dia FROM core.unidades_situacao_diaria GROUP BY idunidade) AS f
    JOIN core.unidades_situacao_diaria AS s ON s.dia = f.dia AND s.idunidade = f.idunidade
),
project_start AS (
    SELECT idempreendimento, min(least(data_cad, data_venda)) AS inicio
    FROM core.reservas
    WHERE ativo = 'S' AND idempreendimento IS NOT NULL
    GROUP BY idempreendimento
),
units AS (  -- every current unit with the moment it appeared (NULL: unknown, left out)
    SELECT u.idunidade, u.idempreendimento,
           CASE WHEN f.dia > (SELECT min(dia) FROM snapshot_days) THEN f.dia::timestamp
                ELSE least(p.inicio, f.dia::timestamp) END AS surgiu
    FROM core.unidades AS u
    LEFT JOIN first_seen AS f ON f.idunidade = u.idunidade
    LEFT JOIN project_start AS p ON p.idempreendimento = u.idempreendimento
    WHERE u.ativo IS DISTINCT FROM 'N' AND u.idempreendimento IS NOT NULL AND u.idunidade IS NOT NULL
      AND coalesce(f.situacao, u.situacao_mapa_disponibilidade) IS DISTINCT FROM 4
),
sale_spans AS (  -- each active sale of a unit, from the sale (or the unit's appearance) to its distrato
    SELECT u.idempreendimento, u.idunidade,
           greatest(r.data_venda, u.surgiu) AS inicio,
           coalesce(d.situacao_data, r.data_cancelamento, 'infinity'::timestamp) AS fim
    FROM core.reservas AS r
    JOIN units AS u ON u.idunidade = r.idunidade
    LEFT JOIN (
        SELECT idreserva, min(situacao_data) AS situacao_data
        FROM core.distratos WHERE ativo = 'S' AND situacao_data IS NOT NULL GROUP BY idreserva
    ) AS d ON d.idreserva = r.idreserva
    WHERE r.ativo = 'S' AND r.data_venda IS NOT NULL AND u.surgiu IS NOT NULL
),
spans_flagged AS (  -- a span that starts after every earlier span of the unit ended begins a new sold period
    SELECT *,
           CASE WHEN inicio <= max(fim) OVER (PARTITION BY idunidade ORDER BY inicio, fim
                                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                THEN 0 ELSE 1 END AS novo
    FROM sale_spans
    WHERE fim > inicio
),
sold_periods AS (  -- overlapping sales of one unit (a resale, bad data) count the unit once
    SELECT idempreendimento, min(inicio) AS inicio, max(fim) AS fim
    FROM (SELECT *, sum(novo) OVER (PARTITION BY idunidade ORDER BY inicio, fim ROWS UNBOUNDED PRECEDING) AS periodo
          FROM spans_flagged) AS s
    GROUP BY idempreendimento, idunidade, periodo
),
changes AS (  -- per month: units that appeared, units that became sold, units sold before that became free
    SELECT idempreendimento, date_trunc('month', surgiu)::date AS mes, 1 AS surgidas, 0 AS vendidas, 0 AS liberadas
    FROM units WHERE surgiu IS NOT NULL
    UNION ALL
    SELECT idempreendimento, date_trunc('month', inicio)::date, 0, 1, 0 FROM sold_periods
    UNION ALL
    SELECT idempreendimento, date_trunc('month', fim)::date, 0, 0, 1 FROM sold_periods WHERE fim < 'infinity'
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
last_month AS (
    SELECT max(mes) AS mes FROM (
        SELECT max(mes) AS mes FROM sold
        UNION ALL SELECT max(mes) FROM cancelled
        UNION ALL SELECT max(mes) FROM snapshot_months
        UNION ALL SELECT max(mes) FROM changes
    ) AS m
),
grid AS (  -- every month of every empreendimento from its first appearance on
    SELECT p.idempreendimento, g::date AS mes
    FROM (SELECT idempreendimento, min(mes) AS first_mes FROM changes GROUP BY idempreendimento) AS p
    CROSS JOIN last_month AS l
    CROSS JOIN LATERAL generate_series(p.first_mes, l.mes, interval '1 month') AS g
),
reconstructed AS (
    SELECT g.mes, g.idempreendimento,
           coalesce(sum(coalesce(c.surgidas, 0) - coalesce(c.vendidas, 0) + coalesce(c.liberadas, 0))
               OVER (PARTITION BY g.idempreendimento ORDER BY g.mes
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS estoque_inicial,
           coalesce(c.surgidas, 0) AS lancadas
    FROM grid AS g
    LEFT JOIN (
        SELECT idempreendimento, mes, sum(surgidas) AS surgidas, sum(vendidas) AS vendidas,
               sum(liberadas) AS liberadas
        FROM changes GROUP BY idempreendimento, mes
    ) AS c ON c.idempreendimento = g.idempreendimento AND c.mes = g.mes
),
keys AS (
    SELECT mes, idempreendimento FROM sold
    UNION SELECT mes, idempreendimento FROM cancelled
    UNION SELECT mes, idempreendimento FROM snap_stock
    UNION SELECT mes, idempreendimento FROM snap_launched
    UNION SELECT mes, idempreendimento FROM reconstructed
),
per_project AS (
    SELECT
        k.mes,
        k.idempreendimento,
        coalesce(e.nome, so.nome, c.nome) AS empreendimento,
        CASE WHEN m.mes IS NULL THEN 'reconstruido' ELSE 'snapshot' END AS estoque_fonte,
        coalesce(so.vendidas, 0) AS vendidas,
        coalesce(c.distratos, 0) AS distratos,
        CASE WHEN m.mes IS NULL THEN coalesce(r.estoque_inicial, 0) ELSE coalesce(st.estoque_inicial, 0) END
            AS estoque_inicial,
        CASE WHEN m.mes IS NULL THEN coalesce(r.lancadas, 0) ELSE coalesce(l.lancadas, 0) END AS lancadas,
        coalesce(r.estoque_inicial, 0) AS estoque_inicial_reconstruido,
        coalesce(r.lancadas, 0) AS lancadas_reconstruidas
    FROM keys AS k
    LEFT JOIN snapshot_months AS m ON m.mes = k.mes
    LEFT JOIN sold AS so ON so.mes = k.mes AND so.idempreendimento IS NOT DISTINCT FROM k.idempreendimento
    LEFT JOIN cancelled AS c ON c.mes = k.mes AND c.idempreendimento IS NOT DISTINCT FROM k.idempreendimento
    LEFT JOIN snap_stock AS st ON st.mes = k.mes AND st.idempreendimento IS NOT DISTINCT FROM k.idempreendimento
    LEFT JOIN snap_launched AS l ON l.mes = k.mes AND l.idempreendimento IS NOT DISTINCT FROM k.idempreendimento
    LEFT JOIN reconstructed AS r ON r.mes = k.mes AND r.idempreendimento IS NOT DISTINCT FROM k.idempreendimento
    LEFT JOIN core.empreendimentos AS e ON e.idempreendimento = k.idempreendimento
)
SELECT
    p.mes,
    p.idempreendimento,
    CASE WHEN grouping(p.idempreendimento) = 1 THEN 'Todos os empreendimentos'
         ELSE max(p.empreendimento) END AS empreendimento,
    grouping(p.idempreendimento) = 1 AS total,
    max(p.estoque_fonte) AS estoque_fonte,
    sum(p.vendidas)::bigint AS vendidas,
    sum(p.estoque_inicial)::bigint AS estoque_inicial,
    sum(p.lancadas)::bigint AS lancadas,
    sum(p.distratos)::bigint AS distratos,
    round((sum(p.vendidas) - sum(p.distratos))::numeric
          / nullif(sum(p.estoque_inicial) + sum(p.lancadas), 0), 4) AS vso,
    sum(p.estoque_inicial_reconstruido)::bigint AS estoque_inicial_reconstruido,
    sum(p.lancadas_reconstruidas)::bigint AS lancadas_reconstruidas
FROM per_project AS p
GROUP BY GROUPING SETS ((p.mes, p.idempreendimento), (p.mes))
