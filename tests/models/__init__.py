"""Cached zoo of frozen TensorFlow test models with TF reference outputs.

Import as ``from models import zoo`` (``tests/`` must be on ``sys.path``).
This package must stay light: it never imports TensorFlow itself; models are
built in subprocesses by :mod:`models._build`.
"""
