-- 001: the catalog's first schema (DESIGN.md "Catalog"). IDs are deterministic (see indexer/ids.py),
-- so an interrupted ingest that is run again ends with the same rows as an uninterrupted one.

CREATE TABLE catalogs (
    catalog_id  VARCHAR PRIMARY KEY,          -- name of one ingested batch of videos
    source      VARCHAR,                      -- manifest path or folder it came from
    retired     BOOLEAN NOT NULL DEFAULT FALSE,  -- hidden from search (indexer: index remove)
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);

CREATE TABLE videos (
    video_id       BIGINT PRIMARY KEY,
    catalog_id     VARCHAR NOT NULL,
    uri            VARCHAR,                   -- as written in the manifest (NULL when the row had none)
    path           VARCHAR,                   -- resolved local path
    manifest_row   INTEGER,                   -- 1-based row in the manifest (NULL for folder ingest)
    sha256         VARCHAR,                   -- content hash; the same file twice is one video
    size_bytes     BIGINT,
    duration_s     DOUBLE,
    fps            DOUBLE,
    frame_count    INTEGER,
    width          INTEGER,
    height         INTEGER,
    has_audio      BOOLEAN,
    industry       VARCHAR,
    sub_industry   VARCHAR,
    product        VARCHAR,
    game           VARCHAR,
    split          VARCHAR,
    fragmented     BOOLEAN,                   -- > 30% of the duration in fragments (shot detection only)
    fragment_share DOUBLE,
    status         VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')),
    error          VARCHAR,                   -- why a failed video failed
    ingested_at    TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE INDEX videos_sha256 ON videos (sha256);
CREATE INDEX videos_catalog_uri ON videos (catalog_id, uri);

CREATE TABLE clips (
    clip_id     BIGINT PRIMARY KEY,           -- video_id * 1024 + shot_index
    video_id    BIGINT NOT NULL,
    shot_index  INTEGER NOT NULL,
    start_s     DOUBLE NOT NULL,
    end_s       DOUBLE NOT NULL,
    thumb       VARCHAR                       -- thumbnail path relative to the workspace
);
CREATE INDEX clips_video ON clips (video_id);

CREATE TABLE texts (
    clip_id     BIGINT NOT NULL,
    kind        VARCHAR NOT NULL CHECK (kind IN ('reference', 'general', 'fine', 'asr', 'ocr', 'keywords')),
    text        VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,             -- 'manifest' or the id of the model that wrote it
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (clip_id, kind, source)
);

CREATE TABLE runs (
    run_id      VARCHAR PRIMARY KEY,
    command     VARCHAR NOT NULL,
    catalog_id  VARCHAR,
    started_at  TIMESTAMP NOT NULL DEFAULT current_timestamp,
    finished_at TIMESTAMP,
    summary     JSON
);

CREATE TABLE index_versions (
    model_id     VARCHAR NOT NULL,
    version      VARCHAR NOT NULL,
    path         VARCHAR NOT NULL,
    factory      VARCHAR NOT NULL,
    n            BIGINT NOT NULL,
    recall_at_10 DOUBLE,
    published    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (model_id, version)
);
