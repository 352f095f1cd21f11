"""`seethrough-rig batch`: the same per-picture steps (decompose, build, preview) over many
characters, on a local worker pool or a Ray cluster.

- ``items``: one item's input, folder name, steps and options, checked;
- ``sources``: a folder, a glob or a JSONL manifest -> items;
- ``work``: one item's steps, written into its own folder under a temporary name;
- ``results``: the results manifest (JSONL appended line by line, a torn last line tolerated);
- ``worker`` and ``pool``: the local process pool (a killed worker's item is retried once);
- ``ray_engine``: the same work on Ray (tasks; the diffusion backend as Ray Data actors);
- ``runner``: plans the run (what is already done), drives an engine, logs each result.

Nothing here imports ray, torch or the renderer at module level: workers import what an item
needs when it runs.
"""
