"""Dataset formats: import and export COCO, YOLO, Pascal VOC, CSV and folder-per-tag through one neutral dataset
(:mod:`datasets.formats.dataset`). One module per format, each with ``read(archive, problems)`` and
``write(dataset, writer)``, listed in :mod:`datasets.formats.registry`; :mod:`datasets.formats.services` plans,
imports and exports."""
