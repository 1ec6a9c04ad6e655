-- Back to the two status indexes on chip_jobs.
DROP INDEX chip_jobs_status_chip;
CREATE INDEX chip_jobs_chip_status ON chip_jobs (chip_id, status);
CREATE INDEX chip_jobs_status ON chip_jobs (status);
