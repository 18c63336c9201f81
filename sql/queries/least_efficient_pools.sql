-- Pools whose packing is furthest from the lower bound: where a better algorithm pays off most.
SELECT pool_id, sum(nodes_used) AS nodes_used, sum(lower_bound) AS lower_bound,
       sum(excess_nodes) AS excess_nodes
FROM {catalog}.{analytics}.v_placement_efficiency
GROUP BY pool_id
ORDER BY excess_nodes DESC, pool_id
LIMIT 10
