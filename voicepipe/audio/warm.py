"""Imported by a worker's CPU fork server before it forks children (the process_audio_recording
task's `cpu_preload`): librosa's feature functions run once here, compiling their numba code, so
every child forked from it starts warm and shares those pages instead of compiling its own copy.
"""

from voicepipe.audio.pipeline import warm_up

warm_up()
