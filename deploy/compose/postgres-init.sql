-- Runs once, when the postgres container initialises an empty data directory.
-- One database per service: each service owns its schema and migrates it itself.
CREATE DATABASE care_identity;
CREATE DATABASE care_orders;
CREATE DATABASE care_verification;
CREATE DATABASE care_dispatch;
CREATE DATABASE care_reporting;
