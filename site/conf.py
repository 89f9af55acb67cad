"""Sphinx configuration of the course website (``python -m grader site``, see docs/site.md).

The pages themselves are staged by grader/site.py into ``_build/site-src`` (the lectures from
course/, the student versions from release/, every docs/*.md, a landing page and the errata page
from README.md); this folder only holds the configuration and the vendored scripts. Nothing here
may reach the network, at build time or when a reader opens a page: notebooks are not executed,
MathJax is Debian's libjs-mathjax (copied into ``_static/mathjax`` after the build) and the
widgets' html-manager is the npm package vendored in ``_static/vendor``.
"""
project = "Insight into Multi-layer Perceptrons"
author = "the course team"
copyright = "the course team"

extensions = ["myst_nb"]
exclude_patterns = ["**.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type"]

# --- notebooks: shown with the outputs they were committed with (what nbval checked) --------------
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 6          # `[...](other.ipynb#slug)` links between lectures resolve
# The widgets' saved state is rendered by the html-manager's self-contained bundle (every widget
# the notebooks use is in @jupyter-widgets/base, controls or output, which it carries): no
# require.js, and no loader that could fall back to a CDN for an unknown widget module.
nb_ipywidgets_js = {"vendor/html-manager-1.0.15/embed.js": {}}

# --- maths: Debian's MathJax 2 (libjs-mathjax), served from _static -----------------------------
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS_CHTML"
myst_update_mathjax = False       # myst's rewrite targets MathJax 3/4 options
mathjax2_config = {
    "tex2jax": {"processClass": "math|tex2jax_process|mathjax_process|output_area",
                "ignoreClass": "tex2jax_ignore|mathjax_ignore|bd-article-container"},
    "CommonHTML": {"linebreaks": {"automatic": False}},
    "menuSettings": {"zoom": "None"},
    "showMathMenu": False,
}

# --- HTML -------------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"]
html_copy_source = True           # the "download .ipynb" button: the student version, outputs kept
html_show_sourcelink = False
html_use_index = False            # no index entries: the search page is the index
html_last_updated_fmt = None
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "use_issues_button": False,
    "use_edit_page_button": False,
    "navigation_with_keys": False,
    "home_page_in_toc": True,
}
html_context = {"default_mode": "light"}
