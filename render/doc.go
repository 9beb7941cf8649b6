// Package render turns Trailwatch findings into the formats people and
// other tools read: the readable text report (Text, FindingText) that
// `trailwatch replay --format text` prints and e-mail subscribers receive,
// the AWS Chatbot custom notification (Chatbot), OCSF Detection Findings
// (OCSF) and the AWS Security Finding Format (ASFF). Each renderer is one
// pure function of the finding, so the command-line tool and the Lambda
// functions cannot drift apart.
//
// One finding, one identity everywhere: the finding ID (a case identity,
// stable across escalations and recurrences) is the OCSF finding_info.uid
// and the ASFF Id, so a consumer updates what it already holds.
package render
