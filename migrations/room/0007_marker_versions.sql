ALTER TABLE `members` ADD `marker_version` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Markers D1 did not have yet (the next migration drops last_read_in_d1): copied by the next flush.
UPDATE `members` SET `marker_version` = 1 WHERE `last_read` > coalesce(`last_read_in_d1`, 0);
