-- Hand-written (drizzle-kit generate --custom): Drizzle cannot declare a virtual table or a trigger,
-- so src/db/schema.ts does not know this index; src/db/search.ts reads it with SQL of its own.
--
-- Full-text search over D1's copy of the messages (docs/ARCHITECTURE.md, "Search"). A contentless
-- FTS5 table: it keeps only the index, not a second copy of every message's text, and results are
-- joined back to `messages` by key. `messages` is WITHOUT ROWID (0005), so an external-content table
-- cannot point at it; instead the FTS rowid encodes the message's key, chat_id * 2^32 + id
-- (ids are a per-chat sequence, far below 2^32). `contentless_delete=1` lets an edit or a delete
-- remove an entry by rowid alone (it needs SQLite 3.43; it cannot be combined with columnsize=0).
-- unicode61 with remove_diacritics 2: "cafe" finds "café", case does not matter.
CREATE VIRTUAL TABLE `message_search` USING fts5(
	`content`,
	content='',
	contentless_delete=1,
	tokenize='unicode61 remove_diacritics 2'
);
--> statement-breakpoint
-- The index follows the room's write-behind copy (src/db/room-copy.ts): a new message is indexed
-- when it is copied, a deleted one (deleted_at set, content "") never is.
CREATE TRIGGER `message_search_insert` AFTER INSERT ON `messages`
WHEN new.deleted_at IS NULL
BEGIN
	INSERT INTO `message_search` (rowid, content) VALUES (new.chat_id * 4294967296 + new.id, new.content);
END;
--> statement-breakpoint
-- A copy rewrites a changed row (edit, delete, reaction); only a new text or a delete touches the
-- index: an edit replaces the indexed words, a delete removes them. Reactions cost nothing here.
CREATE TRIGGER `message_search_update` AFTER UPDATE OF content, deleted_at ON `messages`
WHEN old.content IS NOT new.content OR old.deleted_at IS NOT new.deleted_at
BEGIN
	DELETE FROM `message_search` WHERE rowid = old.chat_id * 4294967296 + old.id;
	INSERT INTO `message_search` (rowid, content)
		SELECT new.chat_id * 4294967296 + new.id, new.content WHERE new.deleted_at IS NULL;
END;
--> statement-breakpoint
-- Messages go only with their chat (ON DELETE CASCADE); their entries go with them.
CREATE TRIGGER `message_search_delete` AFTER DELETE ON `messages`
BEGIN
	DELETE FROM `message_search` WHERE rowid = old.chat_id * 4294967296 + old.id;
END;
--> statement-breakpoint
-- Everything D1 already has becomes findable.
INSERT INTO `message_search` (rowid, content)
	SELECT chat_id * 4294967296 + id, content FROM `messages` WHERE deleted_at IS NULL;
