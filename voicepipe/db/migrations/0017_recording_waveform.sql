-- A recording's waveform for its page: (min, max) per column as little-endian int16 pairs
-- (voicepipe.audio.waveform), about 4 KB, written with the chunks by the run that cut them.
-- NULL for recordings processed before waveforms were kept, until they are processed again.
ALTER TABLE recordings
    ADD COLUMN waveform bytea;
