DROP INDEX `messages_chat_id`;--> statement-breakpoint
CREATE INDEX `messages_chat_id_sender` ON `messages` (`chat_id`,`id`,`sender_id`);