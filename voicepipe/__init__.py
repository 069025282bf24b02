"""voicepipe: background processing and job monitoring for voice data, on arq."""

__version__ = "0.1.0"
