"""tfconv example plugin: the TensorFlow custom op ``SoftClip`` (C++, ``soft_clip.cc``) converted
to OpenVINO IR either as standard IR ops or as a custom IR layer with a runtime extension."""

# The tfconv plugin API this plugin was written for (see docs/plugins.md, "Contract").
TFCONV_API = 1

# The plugin's convert option (kept here, not in translators.py, so that adding the option to
# ``tfconv convert`` imports no translation machinery: ``tfconv --help`` stays fast).
OPTION = "soft_clip_as"
MODES = ("ir_ops", "custom_layer")
