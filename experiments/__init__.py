"""The experiment CLIs that write course/results/*.md (``python -m experiments.size_table``,
``python -m experiments.convnetjs``); lectures import them, students' notebooks never need to."""
