-- Hand-written (drizzle-kit generate --custom). The copy's block document (0009) is written by this
-- trigger, inside the copy's INSERT, instead of by a statement of its own before it: one D1
-- statement per copied chunk fewer (issue 12's soak target counts statements per message).
--
-- The copy inserts a chunk's rows in id order (its SELECT says ORDER BY), and a block's first
-- message carries the id of its last (`search_last`). When the last new row of a block is inserted,
-- every row of the block is in the table, and the block's text is built from them.
CREATE TRIGGER `message_search_block` AFTER INSERT ON `messages`
WHEN new.search_block IS NOT NULL
	AND new.id = coalesce((SELECT search_last FROM `messages` WHERE chat_id = new.chat_id AND id = new.search_block), new.id)
BEGIN
	INSERT INTO `message_search` (rowid, content)
		SELECT * FROM (
			SELECT new.chat_id * 4294967296 + new.search_block AS k, group_concat(content, ' ') AS t FROM `messages`
			WHERE chat_id = new.chat_id AND id BETWEEN new.search_block AND new.id
				AND search_block = new.search_block AND deleted_at IS NULL
		) WHERE t IS NOT NULL;
END;
