-- 003: the videos whose audio a Whisper model has transcribed (adsearch transcribe), with or without speech. A video
-- whose audio holds no words gets no 'asr' texts; this row is what tells a later run that it is done anyway.
-- Written in the same transaction as the video's 'asr' texts (indexer/catalog.py: write_transcripts).

CREATE TABLE transcribed (
    video_id    BIGINT PRIMARY KEY,
    source      VARCHAR NOT NULL,             -- the model, as the texts' source ('whisper:tiny.en')
    clips       INTEGER NOT NULL,             -- clips that got an 'asr' text (0: no speech found)
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
