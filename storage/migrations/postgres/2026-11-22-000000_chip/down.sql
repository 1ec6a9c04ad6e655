DROP TABLE chip_jobs;
DROP TABLE card_chips;
