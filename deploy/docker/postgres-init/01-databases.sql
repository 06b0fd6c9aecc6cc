-- Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d),
-- as POSTGRES_USER (tierline). Each service owns its own database; `migrate` creates the schema.
CREATE DATABASE intake OWNER tierline;
CREATE DATABASE router OWNER tierline;
CREATE DATABASE sla_monitor OWNER tierline;
CREATE DATABASE vendor_gateway OWNER tierline;
CREATE DATABASE notifier OWNER tierline;
