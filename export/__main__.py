import sys

from keras_attention_export.cli import main

sys.exit(main())
