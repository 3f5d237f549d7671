"""modelkit: what the two model packages (``retrieval``, ``captioner``) share, below both of them.

- ``modelkit.registry``: ``ConfigRegistry``, the JSON model-config registry each model package builds its own from
  (the configs shipped in the package, plus those a user adds with ``add_model_config``, like open_clip's);
- ``modelkit.tags``: listing the shipped pretrained tags of a package's ``pretrained_weights`` folder;
- ``modelkit.conv_stem``: the convolutional ViT stem (``stem: "conv"``), one definition, so the captioner's frozen
  frame encoder loads the retriever's stem weights under the same keys.

It imports no other package of this repository (docs/ARCHITECTURE.md, "Packages and the direction of imports"),
and nothing here is imported eagerly: ``import modelkit`` costs nothing; ``modelkit.conv_stem`` imports torch.
"""
