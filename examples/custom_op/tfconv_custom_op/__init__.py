"""tfconv example plugin: the TensorFlow custom op ``SoftClip`` (C++, ``soft_clip.cc``) converted
to OpenVINO IR either as standard IR ops or as a custom IR layer with a runtime extension."""

# The tfconv plugin API this plugin was written for (see docs/plugins.md, "Contract").
TFCONV_API = 1
