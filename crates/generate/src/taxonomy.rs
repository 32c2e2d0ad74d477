//! Built-in terminology: a curated list of real NUCC Health Care Provider Taxonomy codes
//! (<https://taxonomy.nucc.org>, system `http://nucc.org/provider-taxonomy`) with their NUCC
//! display names, the Plan-Net ProviderRoleCS code and degree that goes with each, and how common
//! each specialty is in a typical commercial network.

/// The NUCC provider taxonomy code system.
pub const NUCC_SYSTEM: &str = "http://nucc.org/provider-taxonomy";

/// An individual (type 1 NPI) specialty.
#[derive(Debug)]
pub struct Specialty {
    /// NUCC code.
    pub code: &'static str,
    /// NUCC "Display Name".
    pub display: &'static str,
    /// Plan-Net `ProviderRoleCS` code for the role.
    pub role: &'static str,
    /// Degree shown as the name suffix and used for the degree qualification
    /// (`http://terminology.hl7.org/CodeSystem/v2-0360`).
    pub degree: &'static str,
    /// Relative frequency (weights sum to [`SPECIALTY_WEIGHT_TOTAL`]).
    pub weight: u32,
}

const fn s(
    code: &'static str,
    display: &'static str,
    role: &'static str,
    degree: &'static str,
    weight: u32,
) -> Specialty {
    Specialty {
        code,
        display,
        role,
        degree,
        weight,
    }
}

/// Individual specialties. Primary care and nurse practitioners dominate, as in real networks.
pub const SPECIALTIES: &[Specialty] = &[
    s("207Q00000X", "Family Medicine Physician", "ph", "MD", 90),
    s("207QA0505X", "Adult Medicine Physician", "ph", "MD", 8),
    s("208D00000X", "General Practice Physician", "ph", "DO", 15),
    s("207R00000X", "Internal Medicine Physician", "ph", "MD", 90),
    s(
        "207RC0000X",
        "Cardiovascular Disease Physician",
        "ph",
        "MD",
        20,
    ),
    s(
        "207RI0011X",
        "Interventional Cardiology Physician",
        "ph",
        "MD",
        5,
    ),
    s(
        "207RE0101X",
        "Endocrinology, Diabetes & Metabolism Physician",
        "ph",
        "MD",
        7,
    ),
    s("207RG0100X", "Gastroenterology Physician", "ph", "MD", 12),
    s("207RN0300X", "Nephrology Physician", "ph", "MD", 7),
    s("207RP1001X", "Pulmonary Disease Physician", "ph", "MD", 7),
    s("207RR0500X", "Rheumatology Physician", "ph", "MD", 4),
    s(
        "207RH0003X",
        "Hematology & Oncology Physician",
        "ph",
        "MD",
        10,
    ),
    s("207RX0202X", "Medical Oncology Physician", "ph", "MD", 4),
    s(
        "207RA0401X",
        "Addiction Medicine (Internal Medicine) Physician",
        "ph",
        "MD",
        2,
    ),
    s("208000000X", "Pediatrics Physician", "ph", "MD", 45),
    s(
        "2080P0207X",
        "Pediatric Hematology & Oncology Physician",
        "ph",
        "MD",
        2,
    ),
    s(
        "207V00000X",
        "Obstetrics & Gynecology Physician",
        "ph",
        "MD",
        30,
    ),
    s(
        "207VX0201X",
        "Gynecologic Oncology Physician",
        "ph",
        "MD",
        2,
    ),
    s(
        "207X00000X",
        "Orthopaedic Surgery Physician",
        "ph",
        "MD",
        18,
    ),
    s("207Y00000X", "Otolaryngology Physician", "ph", "MD", 7),
    s("207P00000X", "Emergency Medicine Physician", "ph", "MD", 30),
    s("207N00000X", "Dermatology Physician", "ph", "MD", 10),
    s(
        "207K00000X",
        "Allergy & Immunology Physician",
        "ph",
        "MD",
        4,
    ),
    s("2084N0400X", "Neurology Physician", "ph", "MD", 10),
    s("2084P0800X", "Psychiatry Physician", "ph", "MD", 20),
    s("208600000X", "Surgery Physician", "ph", "MD", 20),
    s("2086S0129X", "Vascular Surgery Physician", "ph", "MD", 3),
    s("2086X0206X", "Surgical Oncology Physician", "ph", "MD", 2),
    s(
        "208G00000X",
        "Thoracic Surgery (Cardiothoracic Vascular Surgery) Physician",
        "ph",
        "MD",
        3,
    ),
    s(
        "207T00000X",
        "Neurological Surgery Physician",
        "ph",
        "MD",
        3,
    ),
    s("207W00000X", "Ophthalmology Physician", "ph", "MD", 12),
    s("208800000X", "Urology Physician", "ph", "MD", 7),
    s("207L00000X", "Anesthesiology Physician", "ph", "MD", 25),
    s(
        "2085R0202X",
        "Diagnostic Radiology Physician",
        "ph",
        "MD",
        18,
    ),
    s("207U00000X", "Nuclear Medicine Physician", "ph", "MD", 2),
    s(
        "208100000X",
        "Physical Medicine & Rehabilitation Physician",
        "ph",
        "MD",
        5,
    ),
    s(
        "207ZP0102X",
        "Anatomic Pathology & Clinical Pathology Physician",
        "ph",
        "MD",
        8,
    ),
    s("363L00000X", "Nurse Practitioner", "apn", "NP", 40),
    s("363LF0000X", "Family Nurse Practitioner", "apn", "NP", 60),
    s(
        "363LA2200X",
        "Adult Health Nurse Practitioner",
        "apn",
        "NP",
        10,
    ),
    s("363LP0200X", "Pediatric Nurse Practitioner", "apn", "NP", 6),
    s(
        "364SC2300X",
        "Chronic Care Clinical Nurse Specialist",
        "apn",
        "RN",
        2,
    ),
    s(
        "367500000X",
        "Certified Registered Nurse Anesthetist",
        "apn",
        "CRNA",
        12,
    ),
    s("367A00000X", "Advanced Practice Midwife", "cnw", "CNM", 3),
    s("363A00000X", "Physician Assistant", "pa", "PA", 35),
    s("363AM0700X", "Medical Physician Assistant", "pa", "PA", 8),
    s("152W00000X", "Optometrist", "oo", "OD", 15),
    s("111N00000X", "Chiropractor", "ch", "DC", 15),
    s("122300000X", "Dentist", "de", "DDS", 20),
    s("1223G0001X", "General Practice Dentistry", "de", "DMD", 10),
    s("225100000X", "Physical Therapist", "pt", "PT", 25),
    s("225X00000X", "Occupational Therapist", "ot", "OT", 10),
    s("235Z00000X", "Speech-Language Pathologist", "sp", "MS", 6),
    s("231H00000X", "Audiologist", "au", "AUD", 3),
    s("213E00000X", "Podiatrist", "po", "DPM", 6),
    s("103T00000X", "Psychologist", "py", "PHD", 18),
    s("104100000X", "Social Worker", "sw", "MSW", 6),
    s("1041C0700X", "Clinical Social Worker", "sw", "MSW", 20),
    s("101YM0800X", "Mental Health Counselor", "co", "MA", 12),
    s("106H00000X", "Marriage & Family Therapist", "mt", "MA", 5),
    s("133V00000X", "Registered Dietitian", "dn", "RD", 4),
    s("183500000X", "Pharmacist", "rx", "PharmD", 12),
];

/// Sum of [`Specialty::weight`] over [`SPECIALTIES`] (checked by a test).
pub const SPECIALTY_WEIGHT_TOTAL: u64 = 930;

/// The specialty whose cumulative weight interval contains `ticket` (`ticket < TOTAL`).
#[must_use]
pub fn weighted_specialty(mut ticket: u64) -> &'static Specialty {
    for spec in SPECIALTIES {
        let w = u64::from(spec.weight);
        if ticket < w {
            return spec;
        }
        ticket -= w;
    }
    &SPECIALTIES[0]
}

/// Organisation-level (type 2 NPI) taxonomy codes used for facilities and groups: (code, display).
pub const MULTI_SPECIALTY_GROUP: (&str, &str) = ("193200000X", "Multi-Specialty Group");
pub const SINGLE_SPECIALTY_GROUP: (&str, &str) = ("193400000X", "Single Specialty Group");
pub const GENERAL_ACUTE_HOSPITAL: (&str, &str) = ("282N00000X", "General Acute Care Hospital");
pub const PRIMARY_CARE_CLINIC: (&str, &str) = ("261QP2300X", "Primary Care Clinic/Center");
pub const URGENT_CARE_CLINIC: (&str, &str) = ("261QU0200X", "Urgent Care Clinic/Center");
pub const PHARMACY: (&str, &str) = ("333600000X", "Pharmacy");
pub const RETAIL_PHARMACY: (&str, &str) = ("3336C0003X", "Community/Retail Pharmacy");
pub const CLINICAL_LAB: (&str, &str) = ("291U00000X", "Clinical Medical Laboratory");
pub const RADIOLOGY_CLINIC: (&str, &str) = ("261QR0200X", "Radiology Clinic/Center");

/// Display for a Plan-Net `ProviderRoleCS` code used in [`SPECIALTIES`].
#[must_use]
pub fn role_display(code: &str) -> &'static str {
    match code {
        "ph" => "Physician",
        "apn" => "Advanced Practice Nursing Providers",
        "cnw" => "Certified Nurse Midwife",
        "pa" => "Physician Assistant",
        "oo" => "Optometrist",
        "ch" => "Chiropractor",
        "de" => "Dentist",
        "pt" => "Physical Therapist",
        "ot" => "Occupational Therapist",
        "sp" => "Speech Language Pathologist",
        "au" => "Audiologist",
        "po" => "Podiatrist",
        "py" => "Psychologist",
        "sw" => "Social Worker",
        "co" => "Counselor",
        "mt" => "Marriage/Family Therapist",
        "dn" => "Dietary and Nutritional Service Provider",
        "rx" => "Pharmacy Service Providers",
        _ => "Other Service Provider",
    }
}

/// The `http://terminology.hl7.org/CodeSystem/v2-0360` (degree/license/certificate) display for
/// a degree suffix, when the suffix is a code of that table. Other suffixes (OD, DDS, DPM...) are
/// shown in the name but not emitted as a v2-0360 qualification, to avoid inventing codes.
#[must_use]
pub fn v2_0360_display(code: &str) -> Option<&'static str> {
    Some(match code {
        "MD" => "Doctor of Medicine",
        "DO" => "Doctor of Osteopathy",
        "NP" => "Nurse Practitioner",
        "RN" => "Registered Nurse",
        "CNM" => "Certified Nurse Midwife",
        "PA" => "Physician Assistant",
        "MS" => "Master of Science",
        "PHD" => "Doctor of Philosophy",
        "MA" => "Master of Arts",
        "PharmD" => "Doctor of Pharmacy",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_total_matches_table() {
        let total: u64 = SPECIALTIES.iter().map(|s| u64::from(s.weight)).sum();
        assert_eq!(total, SPECIALTY_WEIGHT_TOTAL);
        assert!(SPECIALTIES.len() >= 60, "{}", SPECIALTIES.len());
    }

    #[test]
    fn weighted_pick_covers_first_and_last() {
        assert_eq!(weighted_specialty(0).code, SPECIALTIES[0].code);
        let last = SPECIALTIES.last().map(|s| s.code);
        assert_eq!(
            Some(weighted_specialty(SPECIALTY_WEIGHT_TOTAL - 1).code),
            last
        );
    }

    #[test]
    fn codes_are_unique_and_nucc_shaped() {
        let mut seen = std::collections::HashSet::new();
        for spec in SPECIALTIES {
            assert!(seen.insert(spec.code), "duplicate {}", spec.code);
            assert_eq!(spec.code.len(), 10);
            assert!(spec.code.ends_with('X'));
            assert_ne!(
                role_display(spec.role),
                "Other Service Provider",
                "{}",
                spec.role
            );
            assert!(!spec.degree.is_empty());
        }
    }
}
