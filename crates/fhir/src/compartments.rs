//! The Patient and Practitioner compartments of FHIR R4
//! (<https://hl7.org/fhir/R4/compartmentdefinition-patient.html>,
//! <https://hl7.org/fhir/R4/compartmentdefinition-practitioner.html>): for each resource type,
//! the search parameters that put a resource in the compartment of the resource they
//! reference, each with its R4 FHIRPath expression reduced to that type's branches. A Group
//! export (Bulk Data) exports its members' compartments by evaluating these on each resource,
//! so it does not depend on which search parameters a tenant indexes.

/// A compartment: (resource type, its (parameter, expression) pairs), sorted by type.
pub type Compartment = &'static [(&'static str, &'static [(&'static str, &'static str)])];

/// The Patient compartment.
pub const PATIENT_COMPARTMENT: Compartment = &[
    (
        "Account",
        &[("subject", "Account.subject")],
    ),
    (
        "AdverseEvent",
        &[("subject", "AdverseEvent.subject")],
    ),
    (
        "AllergyIntolerance",
        &[("patient", "AllergyIntolerance.patient"), ("recorder", "AllergyIntolerance.recorder"), ("asserter", "AllergyIntolerance.asserter")],
    ),
    (
        "Appointment",
        &[("actor", "Appointment.participant.actor")],
    ),
    (
        "AppointmentResponse",
        &[("actor", "AppointmentResponse.actor")],
    ),
    (
        "AuditEvent",
        &[("patient", "AuditEvent.agent.who.where(resolve() is Patient) | AuditEvent.entity.what.where(resolve() is Patient)")],
    ),
    (
        "Basic",
        &[("patient", "Basic.subject.where(resolve() is Patient)"), ("author", "Basic.author")],
    ),
    (
        "BodyStructure",
        &[("patient", "BodyStructure.patient")],
    ),
    (
        "CarePlan",
        &[("patient", "CarePlan.subject.where(resolve() is Patient)"), ("performer", "CarePlan.activity.detail.performer")],
    ),
    (
        "CareTeam",
        &[("patient", "CareTeam.subject.where(resolve() is Patient)"), ("participant", "CareTeam.participant.member")],
    ),
    (
        "ChargeItem",
        &[("subject", "ChargeItem.subject")],
    ),
    (
        "Claim",
        &[("patient", "Claim.patient"), ("payee", "Claim.payee.party")],
    ),
    (
        "ClaimResponse",
        &[("patient", "ClaimResponse.patient")],
    ),
    (
        "ClinicalImpression",
        &[("subject", "ClinicalImpression.subject")],
    ),
    (
        "Communication",
        &[("subject", "Communication.subject"), ("sender", "Communication.sender"), ("recipient", "Communication.recipient")],
    ),
    (
        "CommunicationRequest",
        &[("subject", "CommunicationRequest.subject"), ("sender", "CommunicationRequest.sender"), ("recipient", "CommunicationRequest.recipient"), ("requester", "CommunicationRequest.requester")],
    ),
    (
        "Composition",
        &[("subject", "Composition.subject"), ("author", "Composition.author"), ("attester", "Composition.attester.party")],
    ),
    (
        "Condition",
        &[("patient", "Condition.subject.where(resolve() is Patient)"), ("asserter", "Condition.asserter")],
    ),
    (
        "Consent",
        &[("patient", "Consent.patient")],
    ),
    (
        "Coverage",
        &[("policy-holder", "Coverage.policyHolder"), ("subscriber", "Coverage.subscriber"), ("beneficiary", "Coverage.beneficiary"), ("payor", "Coverage.payor")],
    ),
    (
        "CoverageEligibilityRequest",
        &[("patient", "CoverageEligibilityRequest.patient")],
    ),
    (
        "CoverageEligibilityResponse",
        &[("patient", "CoverageEligibilityResponse.patient")],
    ),
    (
        "DetectedIssue",
        &[("patient", "DetectedIssue.patient")],
    ),
    (
        "DeviceRequest",
        &[("subject", "DeviceRequest.subject"), ("performer", "DeviceRequest.performer")],
    ),
    (
        "DeviceUseStatement",
        &[("subject", "DeviceUseStatement.subject")],
    ),
    (
        "DiagnosticReport",
        &[("subject", "DiagnosticReport.subject")],
    ),
    (
        "DocumentManifest",
        &[("subject", "DocumentManifest.subject"), ("author", "DocumentManifest.author"), ("recipient", "DocumentManifest.recipient")],
    ),
    (
        "DocumentReference",
        &[("subject", "DocumentReference.subject"), ("author", "DocumentReference.author")],
    ),
    (
        "Encounter",
        &[("patient", "Encounter.subject.where(resolve() is Patient)")],
    ),
    (
        "EnrollmentRequest",
        &[("subject", "EnrollmentRequest.candidate")],
    ),
    (
        "EpisodeOfCare",
        &[("patient", "EpisodeOfCare.patient")],
    ),
    (
        "ExplanationOfBenefit",
        &[("patient", "ExplanationOfBenefit.patient"), ("payee", "ExplanationOfBenefit.payee.party")],
    ),
    (
        "FamilyMemberHistory",
        &[("patient", "FamilyMemberHistory.patient")],
    ),
    (
        "Flag",
        &[("patient", "Flag.subject.where(resolve() is Patient)")],
    ),
    (
        "Goal",
        &[("patient", "Goal.subject.where(resolve() is Patient)")],
    ),
    (
        "Group",
        &[("member", "Group.member.entity")],
    ),
    (
        "ImagingStudy",
        &[("patient", "ImagingStudy.subject.where(resolve() is Patient)")],
    ),
    (
        "Immunization",
        &[("patient", "Immunization.patient")],
    ),
    (
        "ImmunizationEvaluation",
        &[("patient", "ImmunizationEvaluation.patient")],
    ),
    (
        "ImmunizationRecommendation",
        &[("patient", "ImmunizationRecommendation.patient")],
    ),
    (
        "Invoice",
        &[("subject", "Invoice.subject"), ("patient", "Invoice.subject.where(resolve() is Patient)"), ("recipient", "Invoice.recipient")],
    ),
    (
        "List",
        &[("subject", "List.subject"), ("source", "List.source")],
    ),
    (
        "MeasureReport",
        &[("patient", "MeasureReport.subject.where(resolve() is Patient)")],
    ),
    (
        "Media",
        &[("subject", "Media.subject")],
    ),
    (
        "MedicationAdministration",
        &[("patient", "MedicationAdministration.subject.where(resolve() is Patient)"), ("performer", "MedicationAdministration.performer.actor"), ("subject", "MedicationAdministration.subject")],
    ),
    (
        "MedicationDispense",
        &[("subject", "MedicationDispense.subject"), ("patient", "MedicationDispense.subject.where(resolve() is Patient)"), ("receiver", "MedicationDispense.receiver")],
    ),
    (
        "MedicationRequest",
        &[("subject", "MedicationRequest.subject")],
    ),
    (
        "MedicationStatement",
        &[("subject", "MedicationStatement.subject")],
    ),
    (
        "MolecularSequence",
        &[("patient", "MolecularSequence.patient")],
    ),
    (
        "NutritionOrder",
        &[("patient", "NutritionOrder.patient")],
    ),
    (
        "Observation",
        &[("subject", "Observation.subject"), ("performer", "Observation.performer")],
    ),
    (
        "Patient",
        &[("link", "Patient.link.other")],
    ),
    (
        "Person",
        &[("patient", "Person.link.target.where(resolve() is Patient)")],
    ),
    (
        "Procedure",
        &[("patient", "Procedure.subject.where(resolve() is Patient)"), ("performer", "Procedure.performer.actor")],
    ),
    (
        "Provenance",
        &[("patient", "Provenance.target.where(resolve() is Patient)")],
    ),
    (
        "QuestionnaireResponse",
        &[("subject", "QuestionnaireResponse.subject"), ("author", "QuestionnaireResponse.author")],
    ),
    (
        "RelatedPerson",
        &[("patient", "RelatedPerson.patient")],
    ),
    (
        "RequestGroup",
        &[("subject", "RequestGroup.subject"), ("participant", "RequestGroup.action.participant")],
    ),
    (
        "ResearchSubject",
        &[("individual", "ResearchSubject.individual")],
    ),
    (
        "RiskAssessment",
        &[("subject", "RiskAssessment.subject")],
    ),
    (
        "Schedule",
        &[("actor", "Schedule.actor")],
    ),
    (
        "ServiceRequest",
        &[("subject", "ServiceRequest.subject"), ("performer", "ServiceRequest.performer")],
    ),
    (
        "Specimen",
        &[("subject", "Specimen.subject")],
    ),
    (
        "SupplyDelivery",
        &[("patient", "SupplyDelivery.patient")],
    ),
    (
        "SupplyRequest",
        &[("subject", "SupplyRequest.deliverTo")],
    ),
    (
        "VisionPrescription",
        &[("patient", "VisionPrescription.patient")],
    ),
];

/// The Practitioner compartment.
pub const PRACTITIONER_COMPARTMENT: Compartment = &[
    ("Account", &[("subject", "Account.subject")]),
    ("AdverseEvent", &[("recorder", "AdverseEvent.recorder")]),
    (
        "AllergyIntolerance",
        &[
            ("recorder", "AllergyIntolerance.recorder"),
            ("asserter", "AllergyIntolerance.asserter"),
        ],
    ),
    ("Appointment", &[("actor", "Appointment.participant.actor")]),
    (
        "AppointmentResponse",
        &[("actor", "AppointmentResponse.actor")],
    ),
    ("AuditEvent", &[("agent", "AuditEvent.agent.who")]),
    ("Basic", &[("author", "Basic.author")]),
    (
        "CarePlan",
        &[("performer", "CarePlan.activity.detail.performer")],
    ),
    (
        "CareTeam",
        &[("participant", "CareTeam.participant.member")],
    ),
    (
        "ChargeItem",
        &[
            ("enterer", "ChargeItem.enterer"),
            ("performer-actor", "ChargeItem.performer.actor"),
        ],
    ),
    (
        "Claim",
        &[
            ("enterer", "Claim.enterer"),
            ("provider", "Claim.provider"),
            ("payee", "Claim.payee.party"),
            ("care-team", "Claim.careTeam.provider"),
        ],
    ),
    ("ClaimResponse", &[("requestor", "ClaimResponse.requestor")]),
    (
        "ClinicalImpression",
        &[("assessor", "ClinicalImpression.assessor")],
    ),
    (
        "Communication",
        &[
            ("sender", "Communication.sender"),
            ("recipient", "Communication.recipient"),
        ],
    ),
    (
        "CommunicationRequest",
        &[
            ("sender", "CommunicationRequest.sender"),
            ("recipient", "CommunicationRequest.recipient"),
            ("requester", "CommunicationRequest.requester"),
        ],
    ),
    (
        "Composition",
        &[
            ("subject", "Composition.subject"),
            ("author", "Composition.author"),
            ("attester", "Composition.attester.party"),
        ],
    ),
    ("Condition", &[("asserter", "Condition.asserter")]),
    (
        "CoverageEligibilityRequest",
        &[
            ("enterer", "CoverageEligibilityRequest.enterer"),
            ("provider", "CoverageEligibilityRequest.provider"),
        ],
    ),
    (
        "CoverageEligibilityResponse",
        &[("requestor", "CoverageEligibilityResponse.requestor")],
    ),
    ("DetectedIssue", &[("author", "DetectedIssue.author")]),
    (
        "DeviceRequest",
        &[
            ("requester", "DeviceRequest.requester"),
            ("performer", "DeviceRequest.performer"),
        ],
    ),
    (
        "DiagnosticReport",
        &[("performer", "DiagnosticReport.performer")],
    ),
    (
        "DocumentManifest",
        &[
            ("subject", "DocumentManifest.subject"),
            ("author", "DocumentManifest.author"),
            ("recipient", "DocumentManifest.recipient"),
        ],
    ),
    (
        "DocumentReference",
        &[
            ("subject", "DocumentReference.subject"),
            ("author", "DocumentReference.author"),
            ("authenticator", "DocumentReference.authenticator"),
        ],
    ),
    (
        "Encounter",
        &[
            (
                "practitioner",
                "Encounter.participant.individual.where(resolve() is Practitioner)",
            ),
            ("participant", "Encounter.participant.individual"),
        ],
    ),
    (
        "EpisodeOfCare",
        &[(
            "care-manager",
            "EpisodeOfCare.careManager.where(resolve() is Practitioner)",
        )],
    ),
    (
        "ExplanationOfBenefit",
        &[
            ("enterer", "ExplanationOfBenefit.enterer"),
            ("provider", "ExplanationOfBenefit.provider"),
            ("payee", "ExplanationOfBenefit.payee.party"),
            ("care-team", "ExplanationOfBenefit.careTeam.provider"),
        ],
    ),
    ("Flag", &[("author", "Flag.author")]),
    ("Group", &[("member", "Group.member.entity")]),
    (
        "Immunization",
        &[("performer", "Immunization.performer.actor")],
    ),
    ("Invoice", &[("participant", "Invoice.participant.actor")]),
    ("Linkage", &[("author", "Linkage.author")]),
    ("List", &[("source", "List.source")]),
    (
        "Media",
        &[("subject", "Media.subject"), ("operator", "Media.operator")],
    ),
    (
        "MedicationAdministration",
        &[("performer", "MedicationAdministration.performer.actor")],
    ),
    (
        "MedicationDispense",
        &[
            ("performer", "MedicationDispense.performer.actor"),
            ("receiver", "MedicationDispense.receiver"),
        ],
    ),
    (
        "MedicationRequest",
        &[("requester", "MedicationRequest.requester")],
    ),
    (
        "MedicationStatement",
        &[("source", "MedicationStatement.informationSource")],
    ),
    (
        "MessageHeader",
        &[
            ("receiver", "MessageHeader.destination.receiver"),
            ("author", "MessageHeader.author"),
            ("responsible", "MessageHeader.responsible"),
            ("enterer", "MessageHeader.enterer"),
        ],
    ),
    ("NutritionOrder", &[("provider", "NutritionOrder.orderer")]),
    ("Observation", &[("performer", "Observation.performer")]),
    (
        "Patient",
        &[("general-practitioner", "Patient.generalPractitioner")],
    ),
    ("PaymentNotice", &[("provider", "PaymentNotice.provider")]),
    (
        "PaymentReconciliation",
        &[("requestor", "PaymentReconciliation.requestor")],
    ),
    (
        "Person",
        &[(
            "practitioner",
            "Person.link.target.where(resolve() is Practitioner)",
        )],
    ),
    (
        "PractitionerRole",
        &[("practitioner", "PractitionerRole.practitioner")],
    ),
    ("Procedure", &[("performer", "Procedure.performer.actor")]),
    ("Provenance", &[("agent", "Provenance.agent.who")]),
    (
        "QuestionnaireResponse",
        &[
            ("author", "QuestionnaireResponse.author"),
            ("source", "QuestionnaireResponse.source"),
        ],
    ),
    (
        "RequestGroup",
        &[
            ("participant", "RequestGroup.action.participant"),
            ("author", "RequestGroup.author"),
        ],
    ),
    (
        "ResearchStudy",
        &[(
            "principalinvestigator",
            "ResearchStudy.principalInvestigator",
        )],
    ),
    (
        "RiskAssessment",
        &[("performer", "RiskAssessment.performer")],
    ),
    ("Schedule", &[("actor", "Schedule.actor")]),
    (
        "ServiceRequest",
        &[
            ("performer", "ServiceRequest.performer"),
            ("requester", "ServiceRequest.requester"),
        ],
    ),
    (
        "Specimen",
        &[("collector", "Specimen.collection.collector")],
    ),
    (
        "SupplyDelivery",
        &[
            ("supplier", "SupplyDelivery.supplier"),
            ("receiver", "SupplyDelivery.receiver"),
        ],
    ),
    ("SupplyRequest", &[("requester", "SupplyRequest.requester")]),
    (
        "VisionPrescription",
        &[("prescriber", "VisionPrescription.prescriber")],
    ),
];

/// The compartment of a member of resource type `rtype`, if it has one here.
pub fn compartment_of(rtype: &str) -> Option<Compartment> {
    match rtype {
        "Patient" => Some(PATIENT_COMPARTMENT),
        "Practitioner" => Some(PRACTITIONER_COMPARTMENT),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_a_resource_type_and_every_expression_starts_with_it() {
        for (t, params) in PATIENT_COMPARTMENT.iter().chain(PRACTITIONER_COMPARTMENT) {
            assert!(crate::is_resource_type(t), "{t}");
            assert!(!params.is_empty(), "{t}");
            for (p, e) in *params {
                assert!(e.trim_start_matches('(').starts_with(t), "{t}.{p}: {e}");
            }
        }
        assert!(compartment_of("Organization").is_none());
    }
}
