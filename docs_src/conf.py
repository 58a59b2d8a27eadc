"""Sphinx configuration for the docs site. `tools/build-docs` feeds it nbdev-processed notebooks from `_proc/docs/`.

Notebooks are rendered with the outputs stored in them (`nbdev-test --save`): nothing is executed here. The site
loads nothing from another host: math becomes MathML at build time, search and theme assets are local."""
from docutils import nodes
from docutils.utils.math.latex2mathml import tex2mathml
from nbdev.config import get_config

cfg = get_config()
project = cfg.title
author = "mlm_course developers"
copyright = "mlm_course developers"

extensions = ["myst_nb", "sphinx.ext.githubpages"]
nb_execution_mode = "off"  # render the outputs committed with the notebooks
nb_render_markdown_format = "myst"  # text/markdown outputs may hold tables (CommonMark has none: they showed as raw |---|)
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
html_math_renderer = "mathml"
suppress_warnings = ["myst.header"]  # lesson notebooks may skip a heading level inside show_doc output

html_theme = "sphinx_book_theme"
html_title = cfg.title
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"  # without one, browsers ask for /favicon.ico and log a 404
html_css_files = ["custom.css"]
html_js_files = [("widgets.js", {"type": "module"})]  # the in-browser widgets; a page without one loads nothing more
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None
html_context = {"default_mode": "auto"}  # an empty mode makes the theme log a console error on first visit
html_theme_options = {
    "repository_url": cfg.git_url,
    "repository_branch": cfg.get("branch", "main"),
    "path_to_docs": cfg.get("nbs_path", "nbs"),
    "use_repository_button": True,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "navigation_with_keys": False,
}


def _mathml(self, node, block):
    "Write LaTeX math as MathML, which browsers render natively: no MathJax fetched from a CDN."
    mathml = tex2mathml(node.astext(), as_block=block)
    self.body.append(f'<div class="math">{mathml}</div>' if block else mathml)
    raise nodes.SkipNode


def setup(app):
    app.add_html_math_renderer("mathml", (lambda self, node: _mathml(self, node, False), None),
                               (lambda self, node: _mathml(self, node, True), None))
