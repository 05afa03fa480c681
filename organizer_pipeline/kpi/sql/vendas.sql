-- One row per sale: a reserva with ativo = 'S' and data_venda set (the seed system's rule, contracts §6).
-- Gross sales: a sale later cancelled by a distrato stays here (data_cancelamento shows it); VSO nets it out.
SELECT
    r.referencia,
    r.idreserva,
    r.data_venda,
    date_trunc('month', r.data_venda)::date AS mes,
    r.idempreendimento,
    r.empreendimento,
    r.etapa,
    r.bloco,
    r.idunidade,
    r.unidade,
    r.idcorretor,
    r.corretor,
    r.idimobiliaria,
    r.imobiliaria,
    r.idcliente,
    r.cliente,
    r.valor_contrato,
    r.situacao,
    r.data_cancelamento
FROM core.reservas AS r
WHERE r.ativo = 'S'
  AND r.data_venda IS NOT NULL
