DROP INDEX making_card_tasks_for_line;
ALTER TABLE making_card_tasks DROP COLUMN for_line;
