-- Generated (the column), then extended by hand (the index's triggers and its re-indexing; Drizzle
-- cannot declare either). docs/ARCHITECTURE.md "Search", docs/DECISIONS.md.
--
-- Message search indexes blocks, not messages: one FTS5 document holds the words of the messages
-- copied together (src/db/room-copy.ts), its rowid chat_id * 2^32 + the block's first message id.
-- A message's `search_block` names that first id; the first message's `search_last` is the id of
-- the block's last, so a block is read by an exact primary-key range (its messages lie within 256
-- ids, SEARCH_BLOCK_SPAN). Why: each FTS5 entry is a D1 row written, and one per message doubled the
-- rows a copied message costs. Both are columns of rows written anyway; neither is indexed (an
-- index entry would be a row written per message).
ALTER TABLE `messages` ADD `search_block` integer;
--> statement-breakpoint
ALTER TABLE `messages` ADD `search_last` integer;
--> statement-breakpoint
-- New messages are indexed by the copy's own statements (one document per copied chunk), not by a
-- trigger per row.
DROP TRIGGER `message_search_insert`;
--> statement-breakpoint
DROP TRIGGER `message_search_update`;
--> statement-breakpoint
DROP TRIGGER `message_search_delete`;
--> statement-breakpoint
-- The existing messages, re-indexed in blocks of up to 64 consecutive ids, each named by its first
-- message (a block's key is always one of its own messages: the row whose delete removes it).
INSERT INTO `message_search` (`message_search`) VALUES ('delete-all');
--> statement-breakpoint
UPDATE `messages` SET `search_block` = b.`first`, `search_last` = CASE WHEN `messages`.`id` = b.`first` THEN b.`last` END
FROM (
	SELECT `chat_id`, `id`, min(`id`) OVER w AS `first`, max(`id`) OVER w AS `last` FROM `messages`
	WINDOW w AS (PARTITION BY `chat_id`, (`id` - 1) / 64)
) AS b
WHERE `messages`.`chat_id` = b.`chat_id` AND `messages`.`id` = b.`id`;
--> statement-breakpoint
INSERT INTO `message_search` (rowid, content)
	SELECT `chat_id` * 4294967296 + `search_block`, group_concat(`content`, ' ') FROM `messages`
	WHERE `deleted_at` IS NULL GROUP BY `chat_id`, `search_block`;
--> statement-breakpoint
-- An edit or a delete copied to D1 rewrites its block's document from the block's current text:
-- remove it by rowid (contentless_delete=1), add it back without the deleted messages. Reactions
-- change neither column and cost the index nothing. The block is read by its key range (id BETWEEN),
-- its text built here from rows, never bound as one parameter (D1's 100 KB statement limit).
CREATE TRIGGER `message_search_update` AFTER UPDATE OF content, deleted_at ON `messages`
WHEN (old.content IS NOT new.content OR old.deleted_at IS NOT new.deleted_at) AND new.search_block IS NOT NULL
BEGIN
	DELETE FROM `message_search` WHERE rowid = new.chat_id * 4294967296 + new.search_block;
	INSERT INTO `message_search` (rowid, content)
		SELECT * FROM (
			SELECT new.chat_id * 4294967296 + new.search_block AS k, group_concat(content, ' ') AS t FROM `messages`
			WHERE chat_id = new.chat_id AND search_block = new.search_block AND deleted_at IS NULL
				AND id BETWEEN new.search_block AND coalesce((SELECT search_last FROM `messages`
					WHERE chat_id = new.chat_id AND id = new.search_block), new.search_block + 255)
		) WHERE t IS NOT NULL;
END;
--> statement-breakpoint
-- Messages go only with their chat (ON DELETE CASCADE); a block's document goes with its first message.
CREATE TRIGGER `message_search_delete` AFTER DELETE ON `messages`
WHEN old.search_block = old.id
BEGIN
	DELETE FROM `message_search` WHERE rowid = old.chat_id * 4294967296 + old.id;
END;
