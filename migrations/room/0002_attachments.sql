CREATE TABLE `attachments` (
	`id` text PRIMARY KEY NOT NULL,
	`uploader_id` integer NOT NULL,
	`name` text NOT NULL,
	`size` integer NOT NULL,
	`content_type` text NOT NULL,
	`created_at` integer NOT NULL,
	`message_id` integer,
	`removing` integer DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE INDEX `attachments_unattached` ON `attachments` (`created_at`) WHERE message_id IS NULL;--> statement-breakpoint
CREATE INDEX `attachments_removing` ON `attachments` (`id`) WHERE removing = 1;--> statement-breakpoint
ALTER TABLE `messages` ADD `attachments` text;