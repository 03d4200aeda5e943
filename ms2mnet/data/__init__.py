"""Datasets: specs, fetch, prepare, synthetic archives, tile store and samplers.

One module per idea: `specs` (what each dataset is made of), `palette` (colour <-> class),
`zips` (safe archive access), `fetch` (get and verify archives), `synthetic` (procedural
archives in the real layouts), `prepare` (archives -> per-tile arrays), `store`
(memory-mapped tiles) and `sampling` (training crops, evaluation tiles, sliding windows).
"""
