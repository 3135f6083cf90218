-- Hand-written (drizzle-kit generate --custom): Drizzle's schema cannot declare WITHOUT ROWID, so
-- src/db/schema.ts and the snapshot describe the same columns and key as 0004, and this rebuilds the
-- table as a WITHOUT ROWID table keyed by (chat_id, id). A rowid table with a composite primary key
-- stores every message twice (the row, and an entry in the key's own index), so each message copied
-- to D1 cost two rows written; keyed by its primary key the row is the only entry: one row written.
-- Every row is kept, with its key and columns as they were.
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_messages` (
	`chat_id` integer NOT NULL,
	`id` integer NOT NULL,
	`sender_id` integer NOT NULL,
	`content` text NOT NULL,
	`client_id` text,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`chat_id`, `id`),
	FOREIGN KEY (`chat_id`) REFERENCES `chats`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`sender_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_messages`("chat_id", "id", "sender_id", "content", "client_id", "created_at") SELECT "chat_id", "id", "sender_id", "content", "client_id", "created_at" FROM `messages`;--> statement-breakpoint
DROP TABLE `messages`;--> statement-breakpoint
ALTER TABLE `__new_messages` RENAME TO `messages`;--> statement-breakpoint
PRAGMA foreign_keys=ON;
