-- Current units per empreendimento by situacao_mapa_disponibilidade (CVDW codes 1..5).
SELECT
    u.idempreendimento,
    coalesce(max(e.nome), max(u.empreendimento)) AS empreendimento,
    u.situacao_mapa_disponibilidade AS situacao_codigo,
    CASE u.situacao_mapa_disponibilidade
        WHEN 1 THEN 'Disponível'
        WHEN 2 THEN 'Reservada'
        WHEN 3 THEN 'Vendida'
        WHEN 4 THEN 'Bloqueada'
        WHEN 5 THEN 'Em processo de reserva'
        ELSE 'Desconhecida'
    END AS situacao,
    count(*) AS unidades,
    coalesce(sum(u.valor), 0)::numeric(18, 2) AS valor_total
FROM core.unidades AS u
LEFT JOIN core.empreendimentos AS e ON e.idempreendimento = u.idempreendimento
WHERE u.ativo IS DISTINCT FROM 'N'
GROUP BY u.idempreendimento, u.situacao_mapa_disponibilidade
