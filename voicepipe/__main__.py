"""Lets `python -m voicepipe` run the command line."""

from voicepipe.cli import main

main()
