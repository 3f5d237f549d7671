-- 002: per-text metadata as JSON (NULL when a text has none). OCR texts (kind 'ocr') store there, per line of the
-- text, the time of the frame it was read in, its box and confidence: {"lines": [{"text", "t_s", "box", "score"}]}
-- (see media/ocr.py and adsearch/ocr.py).

ALTER TABLE texts ADD COLUMN meta JSON;
