"""``nbgrader export`` plugins for learning-management systems (docs/report.md):

    nbgrader export --exporter=grader.exports.canvas.CanvasExportPlugin \
        --CanvasExportPlugin.roster=roster.csv --to canvas.csv
    nbgrader export --exporter=grader.exports.moodle.MoodleExportPlugin \
        --MoodleExportPlugin.roster=roster.csv --to moodle.csv
"""
