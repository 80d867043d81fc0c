"""One package per task (classification and tagging today; translation, generation next): each
holds its model, data, flags, metrics and export, and may import every other nlpkit package.

Nothing outside `nlpkit.tasks` imports a task, and no task imports another: what two tasks
share belongs in `nlpkit.layers`, `text`, `data`, `training`, `export` or `cli`.
"""
