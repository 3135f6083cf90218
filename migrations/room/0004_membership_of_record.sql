CREATE TABLE `chat` (
	`id` integer PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`name` text,
	`created_at` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 0 NOT NULL,
	`version_in_d1` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE `members` ADD `joined_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `members` ADD `version` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `members` ADD `version_in_d1` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `members_to_copy` ON `members` (`user_id`) WHERE version > version_in_d1;