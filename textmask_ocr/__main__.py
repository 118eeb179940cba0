"""``python -m textmask_ocr`` runs the ``textmask-ocr`` command."""

from textmask_ocr.cli import main

if __name__ == "__main__":
    main()
